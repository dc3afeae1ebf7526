"""The web app: factory, sign-in, layout, templates, static files."""
