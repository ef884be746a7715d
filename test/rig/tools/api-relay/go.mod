module regcred.test/rig/tools/api-relay

go 1.25.0
