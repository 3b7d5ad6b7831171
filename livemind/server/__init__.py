"""What the HTTP and MCP servers share: admission control, Prometheus metrics, security (auth, origins) and jobs."""
