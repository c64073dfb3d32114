import { Client } from '../client/client.js';

/**
 * The API token lives in this tab's sessionStorage only: gone when the tab
 * closes, never in a URL (the page has no query strings) and never logged.
 */
const KEY = 'ucloud.token';

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  save: (token: string): void => sessionStorage.setItem(KEY, token),
  clear: (): void => sessionStorage.removeItem(KEY),
  client: (token: string): Client => new Client({ url: location.origin, token }),
};
