from desk.commands import main

main()
