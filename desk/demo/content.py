"""What the demo's customers write, by topic (a canned-reply key without its language)."""

MESSAGES = {
    "es": {
        "order-status": ["Hola! hice un pedido el lunes y todavía no sé nada, dónde está??",
                         "buenas, me decís el estado del pedido 48213? gracias",
                         "cuando llega mi pedido? no tengo número de seguimiento 😕"],
        "shipping-delay": ["llevo 10 días esperando el envío y nada, vaya tela",
                           "mi paquete lleva una semana parado en reparto, q pasa??"],
        "refund": ["Devolví las zapatillas hace 2 semanas y aún no me habéis devuelto el dinero",
                   "quiero el reembolso de mi pedido ya, porfa"],
        "return-exchange": ["Cómo hago un cambio de talla? me queda pequeño el abrigo",
                            "se puede devolver en tienda algo comprado online?"],
        "damaged-item": ["me ha llegado la taza rota 😢 qué hago?", "el jersey vino con un agujero"],
        "cancel-order": ["quiero cancelar el pedido que hice hace una hora, me equivoqué de talla"],
        "payment-problem": ["me habéis cobrado dos veces el mismo pedido!!", "no me deja pagar con la tarjeta, error todo el rato"],
        "promo-code": ["el código BLACK20 no funciona en la web", "xq no me aplica el descuento??"],
        "account-access": ["no puedo entrar en mi cuenta, no me llega el correo para cambiar la contraseña"],
        "store-hours": ["a qué hora abrís el domingo en Valencia?", "tenéis tienda en Sevilla?"],
        "availability": ["cuándo volverá a haber stock de las botas negras en la 38?"],
        "praise": ["me encanta el vestido, llegó en dos días!! 😍", "sois los mejores, gracias por la atención"],
        "invoice": ["necesito la factura del pedido 51872 a nombre de empresa"],
        "shipping-cost": ["cuánto cuesta el envío a Canarias?"],
        "complaint": ["Pésima atención, llevo 3 días escribiendo y nadie contesta"],
    },
    "en": {
        "order-status": ["where is my order?? placed it on monday and no news", "any update on order 77120? thx"],
        "shipping-delay": ["my package has been stuck in transit for a week", "delivery is late again, this is the 2nd time"],
        "refund": ["I returned the jacket 2 weeks ago and still no refund"],
        "return-exchange": ["how do I exchange for a bigger size?"],
        "damaged-item": ["my mug arrived broken 😞"],
        "payment-problem": ["I was charged twice for the same order!"],
        "promo-code": ["discount code WELCOME10 doesn't work at checkout"],
        "account-access": ["can't log in to my account, reset email never arrives"],
        "store-hours": ["what time do you open on Sunday in London?"],
        "availability": ["when will the black boots be back in stock in size 6?"],
        "praise": ["love the new collection, great quality 👏"],
        "shipping-cost": ["how much is shipping to Ireland?"],
        "complaint": ["terrible customer service, nobody answers my messages"],
    },
}

# Messages that the escalation rules catch (legal or press risk).
RISKY = {
    "es": ["Si no me devolvéis el dinero hoy pondré una denuncia en la OCU",
           "Soy periodista y estoy preparando un artículo sobre vuestros retrasos"],
    "en": ["If I don't get my refund this week my lawyer will be in touch"],
}

# A burst of similar angry messages in the last hour: a reputation crisis in the making.
CRISIS = [
    "la app no funciona y no puedo pagar, es un desastre",
    "La app no funciona!! no puedo pagar nada, qué desastre",
    "otra vez la app no funciona y no puedo pagar... desastre total",
    "la app no funciona, no me deja pagar, un desastre 😡",
    "la app no funciona y no puedo pagar, vaya desastre de empresa",
    "app not working, can't pay, what a disaster 😡",
]

CUSTOMERS = {
    "es": ["Lucía Pérez", "Javier Martín", "Carmen Ruiz", "Pablo Sánchez", "Marta López",
           "Andrés Gómez", "Elena Díaz", "Sergio Torres", "Paula Romero", "Álvaro Navarro",
           "Nuria Molina", "Diego Castro", "Irene Ortega", "Raúl Delgado", "Sofía Morales",
           "Camila Rojas", "Mateo Fernández", "Valentina Herrera", "Santiago Vargas", "Renata Silva"],
    "en": ["Emma Johnson", "Oliver Smith", "Amelia Brown", "Jack Wilson", "Isla Taylor",
           "Harry Davies", "Grace Evans", "Noah Thomas", "Chloe Walker", "Leo Wright"],
}

POSTS = [
    ("Nueva colección de invierno ❄️ ¡Ya disponible!", "https://www.facebook.com/tiendasol/posts/1001"),
    ("Black Friday: -20% con el código BLACK20", "https://www.instagram.com/p/CwBlackFriday/"),
    ("Winter sale is on: up to 40% off", "https://www.facebook.com/tiendasol/posts/1002"),
]

NOTES = ["@{handle} ¿puedes mirar este pedido en el almacén?", "Cliente recurrente, trátalo con cariño.",
         "@{handle} this one needs a refund approval"]

RATING_TEXT = {5: "5", 4: "⭐⭐⭐⭐", 3: "3/5", 2: "2", 1: "1 estrella"}
