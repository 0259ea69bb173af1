-- delta_sync 1.1 -> 1.2
\echo Use "ALTER EXTENSION delta_sync UPDATE TO '1.2'" to load this file. \quit
