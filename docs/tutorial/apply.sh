worldgate apply --request examples/plan_request.json --run-id tutorial-1 --output table
