// One page in Debian's Chromium (playwright-core) served from 127.0.0.1, for the browser tests and
// bench/embeddings-browser.ts: a static server (the page at "/", folders under URL prefixes, files by path) and a
// headless browser whose page reaches nothing but that server, with its page and console errors collected.
import { createServer } from "node:http";
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM } from "./prerequisites.js";

const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
};

/** Common roots: onnxruntime-web's dist (wasm build) and TF.js's browser bundles. */
export const ORT_WEB = { "/ort/": "node_modules/onnxruntime-web/dist/" };
export const TFJS_BUNDLE = "node_modules/@tensorflow/tfjs/dist/tf.min.js";

export interface ServeOptions {
  /** URL prefix ("/x/") → folder on disk; only files below it are served. */
  roots?: Record<string, string>;
  /** Exact paths ("/tf.min.js") → file contents. */
  files?: Record<string, Uint8Array | string>;
  /** Cross-origin isolation headers (onnxruntime-web and TF.js wasm may then use their threaded builds). */
  isolated?: boolean;
  /** Called with each path served and its size in bytes (what a page loads). */
  onServe?: (path: string, bytes: number) => void;
}

export interface Served {
  url: string;
  close: () => void;
}

/** A static server on 127.0.0.1: `page` at "/", then `files`, then the `roots`; anything else (but a favicon) is a 404. */
export async function serveFiles(page: string, opts: ServeOptions = {}): Promise<Served> {
  const roots = opts.roots ?? {};
  const files = opts.files ?? {};
  const headers: Record<string, string> = opts.isolated ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } : {};
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]);
    const send = (body: Uint8Array | string, type: string) => {
      opts.onServe?.(path, typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
      res.writeHead(200, { ...headers, "content-type": type }).end(body);
    };
    if (path === "/") return send(page, "text/html");
    if (path === "/favicon.ico") return void res.writeHead(204).end(); // no console error for the browser's own request
    if (files[path] !== undefined) return send(files[path], TYPES[extname(path)] ?? "application/octet-stream");
    for (const [prefix, root] of Object.entries(roots)) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(root, path.slice(prefix.length)));
      if (!file.startsWith(normalize(root)) || !existsSync(file) || !statSync(file).isFile()) break;
      return send(readFileSync(file), TYPES[extname(file)] ?? "application/octet-stream");
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

export interface OpenPage {
  browser: Browser;
  page: Page;
  /** Uncaught page errors and console errors, in order. */
  errors: string[];
  close: () => Promise<void>;
}

/**
 * Headless Chromium on the served page (only 127.0.0.1 reachable), waiting until it sets `window.__ready`. `close`
 * closes the browser and the server (both are closed here when the page does not get ready).
 */
export async function openPage(served: Served, { ready = "__ready", timeoutMs = 60_000, args = [] as string[] } = {}): Promise<OpenPage> {
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
    executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", ...args],
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.route("**/*", (route) => (new URL(route.request().url()).hostname === "127.0.0.1" ? route.continue() : route.abort()));
    await page.goto(served.url + "/");
    await page.waitForFunction((name) => (window as unknown as Record<string, unknown>)[name] === true, ready, { timeout: timeoutMs });
    const b = browser;
    return { browser: b, page, errors, close: async () => (await b.close(), served.close()) };
  } catch (err) {
    await browser?.close();
    served.close();
    throw err;
  }
}

/** Calls `window[fn](arg)` in the page and returns its (JSON-serialisable) result. */
export function callPage<T>(page: Page, fn: string, arg: unknown): Promise<T> {
  return page.evaluate(([name, a]) => (window as unknown as Record<string, (x: unknown) => Promise<unknown>>)[name as string](a), [fn, arg] as const) as Promise<T>;
}
