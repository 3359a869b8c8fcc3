"""FastMCP's proxy, as its documentation shows it: `create_proxy` over an MCP config
naming one stdio server, served over Streamable HTTP.

Usage: fastmcp_proxy.py PORT COMMAND [ARGS...]
"""

import sys

from fastmcp.server import create_proxy

port, command, *args = sys.argv[1:]
proxy = create_proxy({"mcpServers": {"fs": {"command": command, "args": args}}}, name="bench-proxy")
proxy.run(transport="http", host="127.0.0.1", port=int(port), path="/mcp", show_banner=False)
