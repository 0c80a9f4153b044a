#!/usr/bin/python3
# A dbm.dumb database with one key, before the writer adds a second.
import dbm.dumb

db = dbm.dumb.open("db", "c")
db["a"] = "1"
db.close()
