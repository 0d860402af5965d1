import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build lands in the Python package, which serves it at /.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "../src/leapscope/server/static", emptyOutDir: true, chunkSizeWarningLimit: 6000 },
  server: { proxy: { "/api": "http://127.0.0.1:8040" } },
});
