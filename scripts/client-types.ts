import openapiTS, { astToString } from 'openapi-typescript';
import { openapiDocument } from '../src/api/openapi.js';

const HEADER = `// generated; do not edit; npm run gen:client
// The API's paths, parameters and bodies from its OpenAPI document (src/api/openapi.ts).
`;

/** src/client/api-types.ts as it should read for this build's OpenAPI document. */
export async function clientTypesSource(): Promise<string> {
  const ast = await openapiTS(await openapiDocument() as never, { alphabetize: true });
  return HEADER + astToString(ast);
}
