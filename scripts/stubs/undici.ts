/**
 * What the bundle gives client-node for `undici`. client-node builds undici dispatchers only
 * for its generated API client and its fetch-based helpers, none of which regcred calls
 * (src/kube/transport.ts sends every request on node:http), so the ~10 MB resident undici
 * would cost is not paid. Reaching one of these is a bundling mistake: it says so.
 */
const unused = (what: string) => {
  throw new Error(
    `regcred's bundle leaves out undici, but client-node asked for ${what}: a call through client-node's generated API crept in (use src/kube/api.ts)`,
  );
};

export class Agent {
  constructor() {
    unused("an undici Agent");
  }
}

export class ProxyAgent {
  constructor() {
    unused("an undici ProxyAgent");
  }
}

export function fetch(): never {
  return unused("undici's fetch");
}
