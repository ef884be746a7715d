// A local GCE / GKE metadata server, checking what the real one checks: every request must carry
// `Metadata-Flavor: Google` (else 403), and every answer carries it back (google-auth-library's
// gcp-metadata refuses an answer without it).
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export const PROJECT_ID = "regcred-test-project";
const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";

/** What the token endpoint answers next. */
export type TokenBehaviour =
  { ok: { expiresIn?: number } } | { status: number; body: string } | { flavorless: true };

export interface MetadataRequest {
  path: string;
  query: URLSearchParams;
  flavor: string | undefined;
}

export interface MetadataServer {
  /** 127.0.0.1:PORT, the form GCE_METADATA_HOST takes. */
  host: string;
  readonly requests: MetadataRequest[];
  /** Every access token this server handed out, oldest first. */
  readonly issued: string[];
  tokenRequests(): number;
  behave(next: TokenBehaviour): void;
  close(): Promise<void>;
}

export async function startMetadataServer(): Promise<MetadataServer> {
  const requests: MetadataRequest[] = [];
  const issued: string[] = [];
  let behaviour: TokenBehaviour = { ok: { expiresIn: 3599 } };
  let serial = 0;

  const server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? "/", "http://metadata.google.internal");
    const flavor = req.headers["metadata-flavor"] as string | undefined;
    requests.push({ path: url.pathname, query: url.searchParams, flavor });
    const send = (status: number, body: string, type = "application/text", withFlavor = true) => {
      res.writeHead(status, { "Content-Type": type, ...(withFlavor ? { "Metadata-Flavor": "Google" } : {}) });
      res.end(body);
    };
    if (flavor !== "Google") return send(403, "Missing required header: Metadata-Flavor: Google");
    if (url.pathname === "/computeMetadata/v1/project/project-id") return send(200, PROJECT_ID);
    if (url.pathname === "/computeMetadata/v1/instance" || url.pathname === "/computeMetadata/v1/instance/") {
      return send(200, "attributes/\nservice-accounts/\n");
    }
    if (url.pathname !== TOKEN_PATH) return send(404, "Not Found");
    if ("status" in behaviour) return send(behaviour.status, behaviour.body);
    const token = `ya29.metadata-token-${++serial}-${Math.random().toString(36).slice(2)}`;
    issued.push(token);
    const body: Record<string, unknown> = { access_token: token, token_type: "Bearer" };
    const expiresIn = "ok" in behaviour ? behaviour.ok.expiresIn : 3599;
    if (expiresIn !== undefined) body.expires_in = expiresIn;
    send(200, JSON.stringify(body), "application/json", !("flavorless" in behaviour));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    issued,
    tokenRequests: () => requests.filter((r) => r.path === TOKEN_PATH).length,
    behave(next) {
      behaviour = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Every variable google-auth-library consults to find credentials, so a developer's own gcloud
// login or CI's environment cannot leak into a test.
const GOOGLE_ENV = [
  "GCE_METADATA_HOST",
  "GCE_METADATA_IP",
  "METADATA_SERVER_DETECTION",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "google_application_credentials",
  "CLOUDSDK_CONFIG",
  "GOOGLE_CLOUD_PROJECT",
  "GCLOUD_PROJECT",
  "GOOGLE_CLOUD_QUOTA_PROJECT",
  "GOOGLE_CLOUD_UNIVERSE_DOMAIN",
];

/**
 * Sets the Google variables for a test (unset unless given) and returns the function that puts
 * the previous values back. gcp-metadata 8 reads GCE_METADATA_IP, then GCE_METADATA_HOST, on
 * every request, and METADATA_SERVER_DETECTION on every availability check, so changing them
 * between tests takes effect at once.
 */
export function googleEnv(values: Record<string, string>): () => void {
  const saved = new Map([...GOOGLE_ENV, ...Object.keys(values)].map((k) => [k, process.env[k]]));
  for (const key of GOOGLE_ENV) delete process.env[key];
  Object.assign(process.env, values);
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
