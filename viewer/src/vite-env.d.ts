// What vite gives the sources (CSS imports, import.meta.env), for tsc.
/// <reference types="vite/client" />
