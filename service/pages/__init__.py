"""Web pages for county officers, the agency and viewers: server-rendered, Swedish first, every asset local."""
