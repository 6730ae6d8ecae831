worldgate report --from examples/returns.csv --out var/tutorial/tearsheet.html
