"""Server-rendered HTML pages for program staff (Jinja2 templates, plain forms)."""
