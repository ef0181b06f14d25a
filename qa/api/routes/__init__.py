"""One router module per resource: ask (and its stream), articles, system, admin, web."""
