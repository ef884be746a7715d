// The Azure Instance Metadata Service's managed identity endpoint, as a VM or AKS node pool
// serves it on 169.254.169.254 (plain http). @azure/identity and MSAL honour
// AZURE_POD_IDENTITY_AUTHORITY_HOST as its address. The tokens come from the fake Entra, so the
// fake ACR accepts them.
import { createServer, type Server } from "node:http";
import type { FakeEntra } from "./fake-entra.ts";

export interface ManagedIdentity {
  clientId: string;
  resourceId: string;
}

export class FakeImds {
  readonly requests: Array<{ query: Record<string, string>; metadata: string | undefined }> = [];
  private readonly server: Server;
  port = 0;

  private constructor(
    entra: FakeEntra,
    identities: ManagedIdentity[],
    systemAssigned: string,
    audiences: readonly string[],
  ) {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://imds");
      const query = Object.fromEntries(url.searchParams);
      const metadata = req.headers["metadata"] as string | undefined;
      this.requests.push({ query, metadata });
      const reply = (status: number, body: object) => {
        res.statusCode = status;
        res.setHeader("content-type", "application/json; charset=utf-8");
        res.end(JSON.stringify(body));
      };
      // MSAL asks for ".../token/" (trailing slash); IMDS serves both.
      if (!/^\/metadata\/identity\/oauth2\/token\/?$/.test(url.pathname))
        return reply(404, { error: "not_found" });
      if (metadata !== "true") {
        return reply(400, {
          error: "invalid_request",
          error_description: "Required metadata header not specified",
        });
      }
      if (query["api-version"] !== "2018-02-01")
        return reply(400, { error: "invalid_request", error_description: "api-version" });
      const resource = query["resource"] ?? "";
      if (!audiences.includes(resource)) {
        return reply(400, {
          error: "invalid_resource",
          error_description: `AADSTS500011: resource ${resource} not found`,
        });
      }
      const wanted = query["client_id"] ?? query["mi_res_id"] ?? query["msi_res_id"];
      const identity =
        wanted === undefined
          ? systemAssigned
          : identities.find((i) => i.clientId === wanted || i.resourceId === wanted)?.clientId;
      if (!identity) {
        return reply(400, {
          error: "invalid_request",
          error_description: "Identity not found",
        });
      }
      const token = entra.issue(identity, resource);
      const expiresOn = Math.floor(entra.issued.get(token)!.expiresAt / 1000);
      reply(200, {
        access_token: token,
        client_id: identity,
        expires_in: String(expiresOn - Math.floor(Date.now() / 1000)),
        expires_on: String(expiresOn),
        ext_expires_in: String(expiresOn - Math.floor(Date.now() / 1000)),
        not_before: String(Math.floor(Date.now() / 1000)),
        resource,
        token_type: "Bearer",
      });
    });
  }

  static async start(
    entra: FakeEntra,
    opts: { identities: ManagedIdentity[]; systemAssigned: string; audiences: readonly string[] },
  ): Promise<FakeImds> {
    const imds = new FakeImds(entra, opts.identities, opts.systemAssigned, opts.audiences);
    await new Promise<void>((resolve) => imds.server.listen(0, "127.0.0.1", resolve));
    imds.port = (imds.server.address() as { port: number }).port;
    return imds;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
