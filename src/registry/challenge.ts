/**
 * The `WWW-Authenticate` challenge of a registry's `/v2/` (Docker Registry HTTP API v2 auth):
 * `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`. Parameter values may be
 * quoted strings with backslash escapes (RFC 9110 auth-param).
 */
export interface Challenge {
  scheme: "bearer" | "basic";
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseChallenge(header: string | null | undefined): Challenge | null {
  if (!header) return null;
  const text = header.trim();
  const scheme = TOKEN.exec(text)?.[0];
  if (!scheme) return null;
  const lower = scheme.toLowerCase();
  if (lower !== "bearer" && lower !== "basic") return null;
  const params: Record<string, string> = {};
  let rest = text.slice(scheme.length);
  for (;;) {
    rest = rest.replace(/^[\s,]+/, "");
    const name = TOKEN.exec(rest)?.[0];
    if (!name) break;
    rest = rest.slice(name.length).replace(/^\s*=\s*/, "");
    let value: string;
    if (rest.startsWith('"')) {
      let i = 1;
      value = "";
      for (; i < rest.length && rest[i] !== '"'; i++) value += rest[i] === "\\" ? (rest[++i] ?? "") : rest[i];
      rest = rest.slice(i + 1);
    } else {
      value = TOKEN.exec(rest)?.[0] ?? "";
      rest = rest.slice(value.length);
    }
    params[name.toLowerCase()] = value;
  }
  return { scheme: lower, params };
}
