// Copies the API reference page's viewer (swagger-ui-dist, from npm) into the Python
// package, twin/serving/apidocs/, which the twin serves at /api/docs with its own start
// script (twin/serving/routes/docs.py): nothing is loaded from the internet at run time.
// Run after `vite build` (npm's postbuild), outside vite's output folder, which vite empties.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
const { version } = require('swagger-ui-dist/package.json');
const out = fileURLToPath(new URL('../twin/serving/apidocs/', import.meta.url));

mkdirSync(out, { recursive: true });
for (const name of ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE']) {
  copyFileSync(join(dist, name), join(out, name));
}
writeFileSync(join(out, 'VERSION'), `swagger-ui-dist ${version}\n`);
