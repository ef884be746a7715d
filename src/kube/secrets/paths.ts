/** The API path of one Secret. */
export const secretPath = (namespace: string, name: string) =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;

/** The key of a Secret in the writer's maps. */
export const key = (namespace: string, name: string) => `${namespace}/${name}`;
