"""The HTTP face of the product: FastAPI app, routes, schemas; see `qa.api.app.create_app`."""
