import react from '@vitejs/plugin-react';
import { loadEnv } from 'vite';
import { defineConfig, type Plugin } from 'vitest/config';

// `npm run dev` / `npm run preview` forward these paths to Envoy (REST API), so the UI stays same-origin
// as in production. DEEPFAKE_API_URL (environment or .env.local) points them elsewhere.
const DEFAULT_API_TARGET = 'http://localhost:8000';
const API_PATHS = ['/predict', '/health', '/model-info', '/v1'];

// Defence in depth for the built app: nothing inline, nothing from other origins, images also from
// data: (heatmaps) and blob: (previews). Only on build, because the dev server injects inline scripts
// for hot reload. Envoy may send a stricter header as well; browsers then enforce both.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

function cspMetaTag(): Plugin {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}" />`;
  return {
    name: 'csp-meta-tag',
    apply: 'build',
    // Right after <meta charset>: a CSP meta only covers the elements that come after it.
    transformIndexHtml: (html) => {
      const charset = /<meta charset="UTF-8" \/>/;
      if (!charset.test(html)) throw new Error('index.html: <meta charset="UTF-8" /> not found');
      return html.replace(charset, (m) => `${m}\n    ${meta}`);
    },
  };
}

export default defineConfig(({ mode }) => {
  const target = loadEnv(mode, '.', 'DEEPFAKE_').DEEPFAKE_API_URL || DEFAULT_API_TARGET;
  const proxy = Object.fromEntries(API_PATHS.map((p) => [p, { target, changeOrigin: false }]));
  return {
    base: '/',
    plugins: [react(), cspMetaTag()],
    build: {
      outDir: 'dist',
      target: 'es2022',
      // Every browser that runs this build supports modulepreload; skip the polyfill.
      modulePreload: { polyfill: false },
      // Keep assets as files (not inlined data: URLs) so the CSP above stays simple to reason about.
      assetsInlineLimit: 0,
    },
    server: { proxy },
    preview: { proxy },
    test: {
      environment: 'jsdom',
      setupFiles: ['./src/test/setup.ts'],
      include: ['src/**/*.test.{ts,tsx}'],
      restoreMocks: true,
      unstubGlobals: true,
    },
  };
});
