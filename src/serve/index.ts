// `tsdistill/serve`: HTTP servers for a student (predictions) and an embedding model (loads Hono).
export { createServer, startServer } from "./server.js";
export { createEmbeddingServer, startEmbeddingServer } from "./embed-server.js";
