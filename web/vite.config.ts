import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

const backend = 'http://127.0.0.1:3000';

/** Vendor groups kept apart so no single chunk approaches 1 MB and app updates keep vendor caches. */
const vendorGroups: { name: string; test: RegExp }[] = [
  // Shared by react-admin and recharts: on its own, so the lazy charts chunk stays out of the entry.
  {
    name: 'shared',
    test: /node_modules[\\/](eventemitter3|use-sync-external-store|react-is)[\\/]/,
  },
  {
    name: 'react',
    test: /node_modules[\\/](react|react-dom|scheduler|react-router|react-router-dom)[\\/]/,
  },
  { name: 'mui-icons', test: /node_modules[\\/]@mui[\\/]icons-material[\\/]/ },
  { name: 'mui', test: /node_modules[\\/](@mui|@emotion|@popperjs|react-transition-group)[\\/]/ },
  {
    name: 'charts',
    test: /node_modules[\\/](recharts|d3-[a-z-]+|victory-vendor|@reduxjs|redux|react-redux|reselect|decimal\.js-light)[\\/]/,
  },
  {
    name: 'react-admin',
    test: /node_modules[\\/](react-admin|ra-[a-z-]+|@tanstack|react-hook-form|node-polyglot|lodash|query-string|date-fns|inflection)[\\/]/,
  },
];

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': backend,
      '/hooks': backend,
      '/healthz': backend,
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 700,
    rolldownOptions: {
      output: {
        // Rolldown's successor of Rollup's `manualChunks` (which Vite 8 marks deprecated).
        codeSplitting: { groups: vendorGroups },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    pool: 'threads',
    maxWorkers: 2,
    testTimeout: 20_000,
  },
});
