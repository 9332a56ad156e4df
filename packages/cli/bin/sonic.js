#!/usr/bin/env node
// Entry point installed as the `sonic` command; the code is in ../dist (npm run build).
import '../dist/main.js';
