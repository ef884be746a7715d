module regcred.test/rig/tools/pause

go 1.25.0
