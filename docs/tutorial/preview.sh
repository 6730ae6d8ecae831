worldgate execute --request examples/plan_request.json --preview --output table
