package native

// helperDriverRole is filled in with the driver tests.
const helperDriverRole = "test-driver"

func helperDriver(args []string) int { return 2 }
