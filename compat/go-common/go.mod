module brokk/compat/go-common

go 1.26.0
