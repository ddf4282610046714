#!/usr/bin/env node
'use strict';
/**
 * npm run docs:config: rewrites docs/CONFIG.md's configuration table (between its marker comments) and
 * app.properties from the declaration in src/config/schema.ts. Runs after a build (the npm script builds).
 */
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const { renderProperties, withConfigTable } = require(path.join(root, 'dist', 'config', 'docs.js'));

const doc = path.join(root, 'docs', 'CONFIG.md');
fs.writeFileSync(doc, withConfigTable(fs.readFileSync(doc, 'utf8')));
fs.writeFileSync(path.join(root, 'app.properties'), renderProperties());
process.stdout.write('docs/CONFIG.md configuration table and app.properties regenerated\n');
