// Writes src/client/api-types.ts (`npm run gen:client`): the client takes its
// paths, parameters and bodies from it. client-types.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { clientTypesSource } from './client-types.js';

writeFileSync(join(packageRoot(), 'src', 'client', 'api-types.ts'), await clientTypesSource());
