#!/usr/bin/env node
'use strict';
/**
 * Builds the web client (web/) into dist/web: one script and one stylesheet bundled by esbuild,
 * nothing fetched from any other origin. Each node serves dist/web at `/`.
 */
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'web');

fs.rmSync(OUT, { recursive: true, force: true });
esbuild.buildSync({
  entryPoints: { app: path.join(ROOT, 'web', 'src', 'main.tsx') },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'iife',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  // The SDK from source: the page and the SDK build from the same files.
  alias: { '@streamchat/client': path.join(ROOT, 'client', 'src', 'index.ts') },
  outdir: OUT,
  logLevel: 'warning',
});
fs.copyFileSync(path.join(ROOT, 'web', 'index.html'), path.join(OUT, 'index.html'));
