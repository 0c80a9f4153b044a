#!/usr/bin/python3
# Store one more key with the standard library's portable dbm, then acknowledge it.
import dbm.dumb

db = dbm.dumb.open("db", "w")
db["b"] = "2"
db.close()
print("stored b", flush=True)
