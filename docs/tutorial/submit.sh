worldgate submit 6330b7da-1552-4fcf-b2db-419a752a6771 --allow-live
