#!/usr/bin/env node
'use strict';
/**
 * npm run docs:config: rewrites README.md's configuration table (between its marker comments) and
 * app.properties from the declaration in src/config/schema.ts. Runs after a build (the npm script builds).
 */
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const { renderProperties, withReadmeTable } = require(path.join(root, 'dist', 'config', 'docs.js'));

const readme = path.join(root, 'README.md');
fs.writeFileSync(readme, withReadmeTable(fs.readFileSync(readme, 'utf8')));
fs.writeFileSync(path.join(root, 'app.properties'), renderProperties());
process.stdout.write('README.md configuration table and app.properties regenerated\n');
