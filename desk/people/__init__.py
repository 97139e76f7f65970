"""A customer as one person across channels: the customer page, edits, notes and tags,
search, duplicate suggestions and merges. Last of the areas: it reads every other one."""
