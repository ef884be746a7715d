import {
  ProviderError,
  type ClusterSecret,
  type ClusterSecretWatch,
  type Provider,
  type ProviderContext,
  type ProviderDefinition,
} from "../contract.ts";
import { classifyKubeError } from "./errors.ts";
import { mirrorSecret } from "./parse.ts";
import { mirrorSchema, type MirrorSettings } from "./schema.ts";

/**
 * Copies the auths of an existing pull Secret, following it by watch: the "kubectl get secret
 * | sed | kubectl apply into every namespace" recipe, kept in sync. The credential never
 * expires on its own (unless the source says so); a change to the source is minted at once.
 */
export function createMirrorProvider(settings: MirrorSettings, ctx: ProviderContext): Provider {
  const where = `Secret ${settings.source.namespace}/${settings.source.name}`;
  const source: ClusterSecret | null = ctx.cluster ? ctx.cluster.secret(settings.source, ctx.log) : null;
  let following: ClusterSecretWatch | null = null;

  return {
    async mint(signal) {
      if (!source) {
        throw new ProviderError(
          "source_unavailable",
          `mirror of ${where} needs a cluster to read it from: run with --output kube`,
        );
      }
      // The watch's copy once it has listed (no request per mint); a GET before that.
      let secret = following?.current();
      if (secret === undefined) {
        try {
          secret = await source.read(signal);
        } catch (err) {
          throw classifyKubeError(err, where);
        }
      }
      if (secret === null) {
        throw new ProviderError(
          "not_found",
          `${where} does not exist (deleted?); the last good auths stay in place until it is back`,
        );
      }
      const { credentials, notes } = mirrorSecret(secret, settings);
      for (const note of notes) ctx.log.warn({ source: where }, `mirror of ${where}: ${note}`);
      return credentials;
    },
    watch(onChange) {
      if (!source) return () => {};
      const mine = source.follow(onChange);
      following = mine;
      return () => {
        if (following === mine) following = null;
        void mine.stop();
      };
    },
  };
}

export const mirrorProvider: ProviderDefinition<MirrorSettings> = {
  kind: "mirror",
  schema: mirrorSchema,
  create: createMirrorProvider,
};
