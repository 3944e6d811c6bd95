"""The web layer every domain's views and pages share: request context, the
route guard, middleware, error pages, templates and static files."""
