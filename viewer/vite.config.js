// Builds the viewer into the Python package (twin/serving/static), which the server serves at /
// and the wheel ships; nothing is loaded from the internet at run time.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../twin/serving/static', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    // the wall (index.html), and a live exercise's desk pages: the controller's console and the observers' page
    rollupOptions: { input: Object.fromEntries(['index', 'console', 'observer'].map((n) => [n, fileURLToPath(new URL(`${n}.html`, import.meta.url))])) },
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8000', '/ws': { target: 'ws://127.0.0.1:8000', ws: true } },
  },
});
