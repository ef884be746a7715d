// Interception of Google's HTTPS endpoints with nock, on their real hosts: the test proves the
// library talks to the place it talks to in production.
import { createPublicKey, generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "vitest";

export const OAUTH2_TOKEN_URL = "https://oauth2.googleapis.com/token";

// nock 15 hands a reply function one argument, the intercepted fetch Request (a function of two
// parameters is taken as callback style and must call back).
export async function formBody(req: Request): Promise<URLSearchParams> {
  expect(req.headers.get("content-type")).toMatch(/^application\/x-www-form-urlencoded/);
  return new URLSearchParams(await req.text());
}

export interface ServiceAccountKey {
  file: string;
  dir: string;
  email: string;
  json: Record<string, string> & { private_key: string };
  publicKey: KeyObject;
}

/** A real service-account key file with a fresh RSA key; token_uri points somewhere else on purpose. */
export function writeServiceAccountKey(name = "key.json"): ServiceAccountKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-gcr-"));
  const email = "puller@regcred-test.iam.gserviceaccount.com";
  const json = {
    type: "service_account",
    project_id: "regcred-test",
    private_key_id: "0123456789abcdef",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    client_email: email,
    client_id: "112233445566778899",
    auth_uri: "https://accounts.google.com/o/oauth2/auth",
    token_uri: "https://token-uri.invalid/token",
  };
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(json, null, 2));
  return { file, dir, email, json, publicKey };
}

export interface VerifiedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** Verifies an RS256 JWT's signature with the given public key; throws if it does not verify. */
export function verifyRs256(jwt: string, key: KeyObject | string): VerifiedJwt {
  const [h, p, s] = jwt.split(".");
  if (!h || !p || !s) throw new Error("not a JWT");
  const header = JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, unknown>;
  if (header.alg !== "RS256") throw new Error(`alg ${String(header.alg)}, expected RS256`);
  const ok = verify(
    "RSA-SHA256",
    Buffer.from(`${h}.${p}`),
    typeof key === "string" ? createPublicKey(key) : key,
    Buffer.from(s, "base64url"),
  );
  if (!ok) throw new Error("JWT signature does not verify");
  return { header, claims: JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown> };
}
