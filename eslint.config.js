import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layers only point down (docs/architecture.md, "Layers"): a folder of src may
// import from the folders listed for it, and from nothing above. A relative
// import names its target folder after the "../"s, so one pattern per layer does.
const LAYERS = ['common', 'model', 'store', 'storage', 'host', 'managers', 'api', 'scheduler', 'metadata', 'scanners', 'client', 'cli', 'up', 'web'];
const DAEMONS = ['api', 'scheduler', 'host', 'metadata', 'scanners'];

/** `no-restricted-imports` options for a layer that may import `allowed` (host/network counts apart from host). */
function importsOnly(layer, allowed, extra = {}) {
  const hostNetworkOnly = allowed.includes('host/network') && !allowed.includes('host');
  const forbidden = LAYERS.filter((l) => !allowed.includes(l)).map((l) => (l === 'host' && hostNetworkOnly ? 'host/(?!network/)' : `${l}/`));
  const message = `${layer} may import only from ${allowed.join(', ')}: layers point down (docs/architecture.md, "Layers").`;
  return ['error', { ...extra, patterns: [{ regex: `^(\\.\\./)+(${forbidden.join('|')})`, message }, ...(extra.patterns ?? [])] }];
}
const rest = (...without) => LAYERS.filter((l) => !without.includes(l));
const daemonImports = importsOnly('a daemon (api, scheduler, host, metadata, scanners)', rest('cli', 'up', 'client', 'web'));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  { files: ['src/common/**', 'src/model/**'], rules: { 'no-restricted-imports': importsOnly('src/common and src/model', ['common', 'model']) } },
  { files: ['src/store/**'], rules: { 'no-restricted-imports': importsOnly('src/store', ['common', 'model', 'store']) } },
  { files: ['src/storage/**'], rules: { 'no-restricted-imports': importsOnly('src/storage', ['common', 'model', 'store', 'storage']) } },
  {
    files: ['src/host/network/**'],
    rules: {
      // "../x" from here is the host agent, above this layer.
      'no-restricted-imports': importsOnly('src/host/network', ['common', 'model', 'store', 'host/network'], {
        patterns: [{ regex: '^\\.\\./(?!\\.\\./)', message: 'src/host/network may not import the host agent: layers point down (docs/architecture.md, "Layers").' }],
      }),
    },
  },
  { files: ['src/managers/**'], rules: { 'no-restricted-imports': importsOnly('src/managers', ['common', 'model', 'store', 'storage', 'host/network', 'managers']) } },
  { files: DAEMONS.map((d) => `src/${d}/**`), ignores: ['src/host/network/**', 'src/api/routes/**'], rules: { 'no-restricted-imports': daemonImports } },
  { files: ['src/client/**'], rules: { 'no-restricted-imports': importsOnly('src/client', ['common', 'model', 'client']) } },
  // The CLI and `ucloud up` sit on top too, but nothing imports the dashboard's browser code.
  { files: ['src/cli/**', 'src/up/**'], rules: { 'no-restricted-imports': importsOnly('src/cli and src/up', rest('web')) } },
  {
    // The dashboard runs in a browser (bundled by scripts/build-web.ts): the typed client and the
    // model only, and no Node built-in (esbuild would refuse it anyway).
    files: ['src/web/**'],
    rules: {
      'no-restricted-imports': importsOnly('src/web', ['common', 'model', 'client', 'web'], {
        patterns: [{ regex: '^node:', message: 'src/web runs in a browser: no Node built-ins.' }],
      }),
    },
  },
  {
    // Request and response schemas live in src/model; a route names them.
    files: ['src/api/routes/**'],
    rules: {
      'no-restricted-imports': [daemonImports[0], { ...daemonImports[1], paths: [{ name: 'typebox', message: 'Request and response schemas live in src/model: define the schema there and import it.' }] }],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.object.name='Type']", message: 'Request and response schemas live in src/model: define the schema there and import it.' }],
    },
  },
);
