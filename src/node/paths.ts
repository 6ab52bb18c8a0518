// Where the agent finds what ships with Corral (OS definitions, ExtStorage providers), and
// the default search paths that add Ganeti's usual locations in front of them.

import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The repository's share/ directory (src/node/ → ../../share). */
export const SHARE_DIR = fileURLToPath(new URL("../../share/", import.meta.url));

export const DEFAULT_OS_SEARCH_PATH = ["/srv/ganeti/os", join(SHARE_DIR, "os")];
export const DEFAULT_EXTSTORAGE_SEARCH_PATH = ["/srv/ganeti/extstorage", join(SHARE_DIR, "extstorage")];
