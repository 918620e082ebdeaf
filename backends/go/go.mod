module github.com/countersign/countersign/backends/go

go 1.19
