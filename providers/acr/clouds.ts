/**
 * The Azure clouds an ACR login server can live in. The registry's DNS suffix says which cloud
 * it belongs to, and the cloud says where Entra ID and Azure Resource Manager are.
 */
export interface AzureCloud {
  name: CloudName;
  registrySuffix: string;
  authorityHost: string;
  armEndpoint: string;
}

export const CLOUD_NAMES = ["public", "china", "usgov"] as const;
export type CloudName = (typeof CLOUD_NAMES)[number];

export const CLOUDS: Record<CloudName, AzureCloud> = {
  public: {
    name: "public",
    registrySuffix: "azurecr.io",
    authorityHost: "https://login.microsoftonline.com",
    armEndpoint: "https://management.azure.com",
  },
  china: {
    name: "china",
    registrySuffix: "azurecr.cn",
    authorityHost: "https://login.chinacloudapi.cn",
    armEndpoint: "https://management.chinacloudapi.cn",
  },
  usgov: {
    name: "usgov",
    registrySuffix: "azurecr.us",
    authorityHost: "https://login.microsoftonline.us",
    armEndpoint: "https://management.usgovcloudapi.net",
  },
};

/**
 * The ACR audience. The Azure CLI uses this one value in every cloud (azure-cli acr/_docker_utils.py:
 * "https://{}.azure.net".format("containerregistry")); it is the only audience a registry with
 * authentication-as-ARM disabled accepts.
 */
export const ACR_SCOPE = "https://containerregistry.azure.net/.default";

export function armScope(cloud: AzureCloud): string {
  return `${cloud.armEndpoint}/.default`;
}

/** A login server: one DNS label (the registry name, maybe with its DNL hash) + a cloud's suffix. */
const LOGIN_SERVER = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.(azurecr\.(?:io|cn|us))$/;

export function cloudOfRegistry(host: string): AzureCloud | undefined {
  const suffix = LOGIN_SERVER.exec(host)?.[2];
  return Object.values(CLOUDS).find((c) => c.registrySuffix === suffix);
}

/** The registry's resource name as ARM knows it: the first label of its login server. */
export function registryNameOf(host: string): string {
  return host.split(".")[0]!;
}
