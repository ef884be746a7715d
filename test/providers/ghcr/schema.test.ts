import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/load.ts";
import { configFrom } from "../../helpers/config.ts";
import { parseTokenExpiration } from "../../../providers/ghcr/pat.ts";
import { defaultRegistries } from "../../../providers/ghcr/schema.ts";

function config(entry: string): ReturnType<typeof configFrom> {
  return configFrom(`registries:
  - name: gh
    provider: ghcr
${entry
  .trim()
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
secrets:
  - name: regcred
    registries: [gh]
`);
}

function problems(entry: string): Array<{ path: string; message: string }> {
  try {
    config(entry);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("config parsed, expected problems");
}

describe("ghcr config", () => {
  it("PAT mode: defaults to api.github.com, ghcr.io and verification", () => {
    const { settings } = config(`
username: ci-bot
tokenFrom: { file: /var/run/secrets/ghcr/token }`).registries[0]!;
    expect(settings).toEqual({
      name: "gh",
      provider: "ghcr",
      username: "ci-bot",
      tokenFrom: { file: "/var/run/secrets/ghcr/token" },
      apiUrl: "https://api.github.com",
      verify: true,
    });
    expect(defaultRegistries((settings as { apiUrl: string }).apiUrl)).toEqual(["ghcr.io"]);
  });

  it("GitHub Enterprise Server: apiUrl https://HOST/api/v3 means registry containers.HOST", () => {
    const { settings } = config(`
apiUrl: https://github.example.com/api/v3/
usernameFrom: { env: GHES_USER }
tokenFrom: { env: GHES_PAT }`).registries[0]!;
    expect((settings as { apiUrl: string }).apiUrl).toBe("https://github.example.com/api/v3");
    expect(defaultRegistries("https://github.example.com/api/v3")).toEqual(["containers.github.example.com"]);
  });

  it("registries override the default, normalized like every auth key", () => {
    const { settings } = config(`
username: u
tokenFrom: { env: T }
registries: ["https://ghcr.io/v2/", ghcr.io/acme]`).registries[0]!;
    expect((settings as { registries: string[] }).registries).toEqual(["ghcr.io", "ghcr.io/acme"]);
  });

  it("App mode: private key ref, App ID or client ID, installation, repositories", () => {
    const { settings } = config(`
app:
  clientId: Iv23liAbCdEf0123
  installationId: 12345678
  privateKeyFrom: { file: app.pem }
  repositories: [api, web]`).registries[0]!;
    expect((settings as { app: unknown }).app).toEqual({
      clientId: "Iv23liAbCdEf0123",
      installationId: 12345678,
      privateKeyFrom: { file: "app.pem" },
      repositories: ["api", "web"],
    });
  });

  it.each([
    [
      "an inline token",
      "username: u\ntoken: ghp_abc",
      "registries[0].token",
      /never written inline: use tokenFrom/,
    ],
    [
      "no token at all",
      "username: u",
      "registries[0].tokenFrom",
      /expected tokenFrom: \{ file: PATH \} or \{ env: NAME \}/,
    ],
    [
      "both username forms",
      "username: u\nusernameFrom: { env: U }\ntokenFrom: { env: T }",
      "registries[0].username",
      /exactly one of username or usernameFrom/,
    ],
    [
      "a PAT and an App",
      "username: u\ntokenFrom: { env: T }\napp: { appId: 1, installationId: 2, privateKeyFrom: { env: K } }",
      "registries[0].tokenFrom",
      /not used in App mode/,
    ],
    [
      "an inline private key",
      "app: { appId: 1, installationId: 2, privateKeyFrom: { env: K }, privateKey: x }",
      "registries[0].app.privateKey",
      /never written inline: use privateKeyFrom/,
    ],
    [
      "App ID and client ID",
      "app: { appId: 1, clientId: Iv1.abc, installationId: 2, privateKeyFrom: { env: K } }",
      "registries[0].app.appId",
      /exactly one of appId or clientId/,
    ],
    [
      "owner/repo",
      "app: { appId: 1, installationId: 2, privateKeyFrom: { env: K }, repositories: [acme/api] }",
      "registries[0].app.repositories[0]",
      /without its owner/,
    ],
    [
      "plain http to a remote API",
      "apiUrl: http://github.example.com/api/v3\nusername: u\ntokenFrom: { env: T }",
      "registries[0].apiUrl",
      /https:\/\/ URL \(http:\/\/ only to localhost\)/,
    ],
    [
      "an API whose registry cannot be derived",
      "apiUrl: https://api.acme.ghe.com\nusername: u\ntokenFrom: { env: T }",
      "registries[0].registries",
      /cannot derive the registry host from apiUrl https:\/\/api\.acme\.ghe\.com/,
    ],
  ])("rejects %s, naming the path", (_what, entry, path, message) => {
    expect(problems(entry)).toContainEqual({ path, message: expect.stringMatching(message) });
  });
});

describe("GitHub-Authentication-Token-Expiration", () => {
  it.each([
    ["2026-12-31 23:59:59 UTC", "2026-12-31T23:59:59.000Z"],
    ["2023-04-26 20:23:26 +0200", "2023-04-26T18:23:26.000Z"],
    ["2026-06-01 08:00:00 -07:00", "2026-06-01T15:00:00.000Z"],
    ["2026-12-31T23:59:59Z", "2026-12-31T23:59:59.000Z"],
    [" 2026-12-31 23:59:59 utc ", "2026-12-31T23:59:59.000Z"],
  ])("parses %j", (header, iso) => {
    expect(parseTokenExpiration(header)?.toISOString()).toBe(iso);
  });

  it("absent means no expiry (null); unreadable is undefined", () => {
    expect(parseTokenExpiration(null)).toBeNull();
    expect(parseTokenExpiration("")).toBeNull();
    expect(parseTokenExpiration("next tuesday")).toBeUndefined();
    expect(parseTokenExpiration("2026-13-45 25:61:00 UTC")).toBeUndefined();
  });
});
