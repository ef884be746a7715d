import { describe, expect, it } from "vitest";
import { failureReason, ProviderError } from "../../../providers/contract.ts";
import { redact, resetRedactor } from "../../../src/base/redact.ts";
import { captureLogger } from "../../helpers/log.ts";
import { FakeSource, b64, mirror, pullSecret } from "./fake-source.ts";

const signal = () => AbortSignal.timeout(1000);

async function mintFrom(secret: ReturnType<typeof pullSecret>, extra: Record<string, unknown> = {}) {
  const fake = new FakeSource();
  fake.secret = secret;
  return mirror(fake, extra).mint(signal());
}

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => {
      throw new Error("expected the mint to fail");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe("mirror: reading auths as kubelet does", () => {
  it("a non-empty auth wins over username/password", async () => {
    const creds = await mintFrom(
      pullSecret({
        "quay.io": { username: "ignored-user", password: "ignored-pass", auth: b64("robot:from-auth-field") },
      }),
    );
    expect(creds).toEqual([
      { registries: ["quay.io"], username: "robot", password: "from-auth-field", expiresAt: null },
    ]);
  });

  it("an empty auth falls back to username/password", async () => {
    const creds = await mintFrom(
      pullSecret({ "quay.io": { username: "plain-user", password: "plain-pass", auth: "" } }),
    );
    expect(creds[0]).toMatchObject({ username: "plain-user", password: "plain-pass" });
  });

  it("auth splits on the FIRST colon: the password keeps its colons", async () => {
    const creds = await mintFrom(pullSecret({ "quay.io": { auth: b64("robot:pa:ss:word") } }));
    expect(creds[0]).toMatchObject({ username: "robot", password: "pa:ss:word" });
  });

  it("accepts unpadded auth, as kubelet does (RawStdEncoding)", async () => {
    const auth = b64("ab:cdef").replace(/=+$/, "");
    expect(auth).not.toMatch(/=$/);
    const creds = await mintFrom(pullSecret({ "quay.io": { auth } }));
    expect(creds[0]).toMatchObject({ username: "ab", password: "cdef" });
  });

  it("a malformed auth fails the whole Secret (kubelet rejects it too), naming the key, not the value", async () => {
    const notBase64 = await failure(mintFrom(pullSecret({ "quay.io": { auth: "not*base64!" } })));
    expect(notBase64.reason).toBe("invalid_response");
    expect(notBase64.message).toContain('auth "quay.io"');
    expect(notBase64.message).toContain("not base64");
    expect(notBase64.message).not.toContain("not*base64!");
    const noColon = await failure(mintFrom(pullSecret({ "quay.io": { auth: b64("justatoken") } })));
    expect(noColon.message).toContain("does not decode to username:password");
  });

  it("one credential per auth entry, keys normalized to what kubelet matches", async () => {
    const creds = await mintFrom(
      pullSecret({
        "https://index.docker.io/v1/": { auth: b64("hubuser:hub-pass") },
        "https://registry.local:5000/v2/": { username: "local", password: "local-pass" },
        "ghcr.io": { auth: b64("octo:ghp-token") },
      }),
    );
    expect(creds).toEqual([
      {
        registries: ["https://index.docker.io/v1/"],
        username: "hubuser",
        password: "hub-pass",
        expiresAt: null,
      },
      { registries: ["registry.local:5000"], username: "local", password: "local-pass", expiresAt: null },
      { registries: ["ghcr.io"], username: "octo", password: "ghp-token", expiresAt: null },
    ]);
  });

  it("reads legacy kubernetes.io/dockercfg Secrets, whose .dockercfg is the auths map itself", async () => {
    const secret = pullSecret(
      { "https://quay.io": { auth: b64("legacy:legacy-pass"), email: "a@b.c" } },
      { type: "kubernetes.io/dockercfg" },
    );
    expect(Object.keys(secret.data!)).toEqual([".dockercfg"]);
    expect(await mintFrom(secret)).toEqual([
      { registries: ["quay.io"], username: "legacy", password: "legacy-pass", expiresAt: null },
    ]);
    // key: says which data key to read; a legacy map read as .dockerconfigjson has no "auths".
    const wrong = await failure(mintFrom(secret, { key: ".dockerconfigjson" }));
    expect(wrong.message).toContain("has no data key .dockerconfigjson (it has: .dockercfg)");
  });

  it("registries: mirrors only the listed keys, matched after normalization", async () => {
    const secret = pullSecret({
      "https://index.docker.io/v1/": { auth: b64("hubuser:hub-pass") },
      "quay.io": { auth: b64("q:quay-pass") },
      "ghcr.io": { auth: b64("g:ghcr-pass") },
    });
    const creds = await mintFrom(secret, { registries: ["docker.io", "https://quay.io/"] });
    expect(creds.map((c) => c.registries[0])).toEqual(["https://index.docker.io/v1/", "quay.io"]);
  });

  it("registries: entries outside the filter are not even parsed", async () => {
    const secret = pullSecret({ "quay.io": { auth: b64("q:quay-pass") }, "bad.example": { auth: "%%%" } });
    const creds = await mintFrom(secret, { registries: ["quay.io"] });
    expect(creds.map((c) => c.password)).toEqual(["quay-pass"]);
  });

  it("registries: a filter matching nothing is invalid_response listing what the source has", async () => {
    const err = await failure(
      mintFrom(pullSecret({ "quay.io": { auth: b64("q:quay-pass") } }), { registries: ["ghcr.io"] }),
    );
    expect(err.reason).toBe("invalid_response");
    expect(err.message).toContain("has no usable auth for ghcr.io (it has: quay.io)");
  });

  it("two keys for the same registry: the first wins and the other is reported", async () => {
    const { log, lines } = captureLogger("info");
    const fake = new FakeSource();
    fake.secret = pullSecret({
      "docker.io": { auth: b64("first:first-pass") },
      "https://index.docker.io/v1/": { auth: b64("second:second-pass") },
    });
    const creds = await mirror(fake, {}, { log }).mint(signal());
    expect(creds).toHaveLength(1);
    expect(creds[0]).toMatchObject({ username: "first", password: "first-pass" });
    expect(lines.join("")).toContain('skipped: same registry as \\"docker.io\\"');
  });

  it("an entry without a password is skipped (the refresher would reject the whole set)", async () => {
    const creds = await mintFrom(
      pullSecret({ "quay.io": { username: "nobody" }, "ghcr.io": { auth: b64("g:ghcr-pass") } }),
    );
    expect(creds.map((c) => c.registries[0])).toEqual(["ghcr.io"]);
  });

  it("honours regcred's expiry annotation on the source; ignores an unparseable one with a warning", async () => {
    const at = "2031-05-01T12:00:00.000Z";
    const [dated] = await mintFrom(
      pullSecret(
        { "quay.io": { auth: b64("q:quay-pass") } },
        { annotations: { "regcred.io/expires-at": at } },
      ),
    );
    expect(dated!.expiresAt).toEqual(new Date(at));
    const { log, lines } = captureLogger("info");
    const fake = new FakeSource();
    fake.secret = pullSecret(
      { "quay.io": { auth: b64("q:quay-pass") } },
      { annotations: { "regcred.io/expires-at": "next tuesday" } },
    );
    const [undated] = await mirror(fake, {}, { log }).mint(signal());
    expect(undated!.expiresAt).toBeNull();
    expect(lines.join("")).toContain("ignored: not a timestamp");
  });

  it("registers every password and auth string with the redactor", async () => {
    resetRedactor();
    await mintFrom(pullSecret({ "quay.io": { auth: b64("robot:mirror-secret-value") } }));
    expect(redact("pw=mirror-secret-value")).toBe("pw=**redacted**");
    expect(redact(`auth=${b64("robot:mirror-secret-value")}`)).toBe("auth=**redacted**");
  });
});

describe("mirror: failure classification", () => {
  it("a missing source Secret is not_found (GET 404)", async () => {
    const fake = new FakeSource();
    const err = await failure(mirror(fake).mint(signal()));
    expect(err.reason).toBe("not_found");
    expect(err.message).toContain("Secret shared/src");
    expect(err.message).toContain("HTTP 404");
  });

  it("a missing source Secret is not_found (absent from the synced watch cache)", async () => {
    const fake = new FakeSource();
    const p = mirror(fake);
    p.watch!(() => {});
    fake.list();
    const err = await failure(p.mint(signal()));
    expect(err.reason).toBe("not_found");
    expect(fake.reads).toBe(0);
  });

  it.each([
    [403, 'secrets "src" is forbidden: User cannot get resource', "access_denied"],
    [401, "Unauthorized", "bad_credentials"],
    [429, "too many requests", "throttled"],
    [503, "service unavailable", "network"],
  ] as const)("HTTP %i -> %s", async (code, message, reason) => {
    const { apiError } = await import("./fake-source.ts");
    const fake = new FakeSource();
    fake.failure = apiError(code, message);
    const err = await failure(mirror(fake).mint(signal()));
    expect(err.reason).toBe(reason);
    expect(err.message).toContain(`HTTP ${code}: ${message}`);
  });

  it("the wrong Secret type is invalid_response", async () => {
    const err = await failure(
      mintFrom(pullSecret({ "quay.io": { auth: b64("q:p-pass") } }, { type: "Opaque" })),
    );
    expect(err.reason).toBe("invalid_response");
    expect(err.message).toContain("has type Opaque; expected kubernetes.io/dockerconfigjson");
  });

  it("unparseable JSON, a missing auths object and empty auths are invalid_response", async () => {
    for (const [raw, expected] of [
      ["{not json", ".dockerconfigjson is not valid JSON"],
      [JSON.stringify({ credHelpers: {} }), '.dockerconfigjson has no "auths" object'],
      [JSON.stringify({ auths: {} }), ".dockerconfigjson has no auths"],
    ] as const) {
      const err = await failure(mintFrom(pullSecret({}, { raw })));
      expect(err.reason, raw).toBe("invalid_response");
      expect(err.message).toContain(expected);
    }
  });

  it("refuses a source regcred itself manages (it would loop)", async () => {
    const err = await failure(
      mintFrom(
        pullSecret(
          { "quay.io": { auth: b64("q:quay-pass") } },
          { labels: { "app.kubernetes.io/managed-by": "regcred" } },
        ),
      ),
    );
    expect(err.reason).toBe("invalid_response");
    expect(err.message).toContain("is managed by regcred");
    expect(err.message).toContain("would loop");
  });

  it("no cluster (not --output kube) is source_unavailable, and watch is a no-op", async () => {
    const fake = new FakeSource();
    const p = mirror(fake, {}, { kube: false });
    const err = await failure(p.mint(signal()));
    expect(err.reason).toBe("source_unavailable");
    expect(err.message).toContain("--output kube");
    p.watch!(() => {})();
    expect(fake.opened).toEqual([]);
  });

  it("an unreachable API server is network (real client, a closed port on 127.0.0.1)", async () => {
    const { createServer } = await import("node:net");
    const { KubeConfig } = await import("@kubernetes/client-node");
    const { createMirrorProvider } = await import("../../../providers/mirror/index.ts");
    const { mirrorSchema } = await import("../../../providers/mirror/schema.ts");
    const { kubeClusterAccess } = await import("../../../src/kube/cluster-access.ts");
    // A port that was just free: nothing listens on it once the server is closed.
    const server = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const p = createMirrorProvider(
      mirrorSchema.parse({ name: "m", provider: "mirror", source: { namespace: "shared", name: "src" } }),
      { log: captureLogger().log, secrets: {} as never, cluster: kubeClusterAccess(kc) },
    );
    const err = await failure(p.mint(signal()));
    expect(failureReason(err)).toBe("network");
    expect(err.message).toContain("API server unreachable");
    expect(err.message).toContain("ECONNREFUSED");
  });
});

describe("mirror: where mint reads from", () => {
  it("GETs until the watch has listed, then reads the watch's copy with no request", async () => {
    const fake = new FakeSource();
    fake.secret = pullSecret({ "quay.io": { auth: b64("q:first-pass") } });
    const p = mirror(fake);
    const events: number[] = [];
    const stop = p.watch!(() => events.push(1));
    expect(fake.watchers).toBe(1);
    await p.mint(signal());
    expect(fake.reads).toBe(1);
    fake.list();
    fake.change(pullSecret({ "quay.io": { auth: b64("q:second-pass") } }));
    expect(events).toHaveLength(2);
    const [cred] = await p.mint(signal());
    expect(cred!.password).toBe("second-pass");
    expect(fake.reads).toBe(1);
    stop();
    expect(fake.watchers).toBe(0);
    // Without a watch, mint falls back to a GET again.
    await p.mint(signal());
    expect(fake.reads).toBe(2);
  });
});
