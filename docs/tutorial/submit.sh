worldgate submit 4e61e97a-c2b5-4754-9594-fc801e5bae05 --allow-live
