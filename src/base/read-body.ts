import type { IncomingMessage } from "node:http";

/**
 * The whole body as text; a response broken off midway rejects (with the signal's reason), and
 * so does one past maxBytes, which is dropped with its socket.
 */
export async function readBody(
  res: IncomingMessage,
  signal: AbortSignal,
  maxBytes = Infinity,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy();
        throw new Error(`answer over ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw signal.aborted ? signal.reason : err;
  }
  return Buffer.concat(chunks).toString("utf8");
}
