//! `rmcp-bench-server PORT ROOT [--stateless-json]`: an MCP server built the way
//! rmcp's examples build one — `StreamableHttpService` with its local session
//! manager — with one tool, `read_file {path}`, reading a file under ROOT.
//! `--stateless-json` instead runs rmcp's fastest configuration: no sessions and
//! plain JSON replies. TCP_NODELAY is set on every connection (rmcp's example
//! leaves it off and then waits ~40 ms per reply).

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};

#[derive(Clone)]
struct Files {
    root: Arc<PathBuf>,
}

impl ServerHandler for Files {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        });
        let serde_json::Value::Object(schema) = schema else {
            unreachable!()
        };
        let mut result = ListToolsResult::default();
        result.tools = vec![Tool::new("read_file", "Read a file as text.", Arc::new(schema))];
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let path = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("path"))
            .and_then(|p| p.as_str())
            .ok_or_else(|| ErrorData::invalid_params("read_file needs `path`", None))?;
        let text = tokio::fs::read_to_string(self.root.join(path))
            .await
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: rmcp-bench-server PORT ROOT");
    let root = Arc::new(PathBuf::from(args.next().expect("usage: rmcp-bench-server PORT ROOT")));
    let mut config = StreamableHttpServerConfig::default();
    if args.next().as_deref() == Some("--stateless-json") {
        config.legacy_session_mode = false;
        config.json_response = true;
    }
    let service = StreamableHttpService::new(
        move || Ok(Files { root: root.clone() }),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    eprintln!("rmcp serving http://{}/mcp", listener.local_addr().expect("addr"));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
